from keras_adapters.saving.adapter_files import (
    load_adapters,
    read_adapter_file,
    save_adapters,
)
