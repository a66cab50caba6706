"""StyleBank (Chen et al. 2017): a feed-forward network with one filter bank per style; fusion, training, models.

Modules: :mod:`.net` (the network), :mod:`.fusion` (linear and region-wise fusion of banks),
:mod:`.infer` (:func:`~.infer.stylize_stylebank`), :mod:`.model` (model folders, hash-checked),
:mod:`.manifest` (``model.toml`` read and checked against its schema, torch-free),
:mod:`.train` (training and adding styles), :mod:`.thumbnails` (a picture of each style for menus).

May import: :mod:`core.foundation`, :mod:`core.imaging`, :mod:`core.io` (training images), :mod:`core.nn`, torch.
"""
