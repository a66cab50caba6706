"""Neural-network building blocks shared by the methods: the VGG encoder, its weights, the losses.

Modules: :mod:`.vgg` (:class:`~.vgg.MultiLayerEncoder`, :func:`~.vgg.get_encoder`),
:mod:`.encoder_weights` (finding and reading VGG16/VGG19 weights, never unpickled),
:mod:`.losses` (content, Gram style, total variation).

May import: :mod:`core.foundation`, torch, numpy, h5py, safetensors.
"""
