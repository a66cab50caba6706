"""Deep Image Analogy (Liao et al. 2017): A + B′ → A′ and B through deep-feature correspondences.

Modules: :mod:`.deep_analogy` (:func:`~.deep_analogy.deep_image_analogy`), :mod:`.patchmatch`
(the vectorised search), :mod:`.patch_space` (the NNF type and patch distance), :mod:`.nnf`
(upsampling, voting, colour coding), :mod:`.deconvolution` (inverting the encoder between
layers), :mod:`.refine` (the guided filter). Settings: :class:`core.requests.analogy.AnalogyConfig`.

May import: :mod:`core.foundation`, :mod:`core.requests`, :mod:`core.imaging`, :mod:`core.nn`, torch.
"""
