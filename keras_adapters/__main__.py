"""`python -m keras_adapters`: the `keras-adapters` command.

Python imports the package (and with it TensorFlow, whose start-up lines may
show) before this module runs; `python -m keras_adapters_launcher` starts as
quietly as the `keras-adapters` script.
"""

from keras_adapters_launcher import main

main()
