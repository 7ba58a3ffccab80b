"""Pure networks and math for AdaIN style transfer (no file I/O, no Qt).

- :mod:`models.vgg`      the normalised VGG-19 encoder (to relu4_1) in the published layout
- :mod:`models.decoder`  the mirror decoder in the published layout
- :mod:`models.adain`    feature statistics and AdaIN (always computed in fp32)
- :mod:`models.color`    colour preservation (luminance transfer, colour-statistics matching)
- :mod:`models.vgg_convert`  Keras VGG-19 -> normalised-VGG conversion (pure tensor math)
- :mod:`models.losses`   the AdaIN training objective
"""
