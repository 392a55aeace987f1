from keras_adapters.cli.main import main

main()
