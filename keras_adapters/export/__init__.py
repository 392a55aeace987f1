"""SavedModel export for TF Serving, and its verification."""

from keras_adapters.export.check import ExportCheck, check_export, run_with_cpp_loader
from keras_adapters.export.saved_model import (
    ExportedModel,
    export_multitask_saved_model,
    export_saved_model,
    read_export_metadata,
)
from keras_adapters.export.client import (
    grpc_predict_request,
    rest_request_body,
    tokenize_for_serving,
)
