"""Files ↔ tensors: image files, OpenEXR channels, frame sequences and video files.

Modules: :mod:`.images` (:func:`~.images.read_image`, :func:`~.images.write_image`,
:class:`~.images.ImageData`), :mod:`.formats` (extensions, signatures, header sizes, truncation;
no torch), :mod:`.exr` (OpenEXR channels and render passes), :mod:`.sequences`
(:func:`~.sequences.open_frames`, :func:`~.sequences.open_sink`) over :mod:`.frame_names`,
:mod:`.frame_sources`, :mod:`.frame_sinks` and :mod:`.video_files`. Every output is written
atomically; every bad file is a typed error naming it.

May import: :mod:`core.foundation`, :mod:`core.imaging`, OpenCV, OpenEXR, Pillow, numpy, torch.
"""
