from keras_adapters.saving.adapter_files import (
    load_adapters,
    load_task,
    read_adapter_file,
    read_adapter_weights,
    save_adapters,
)
