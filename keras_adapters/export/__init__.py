"""SavedModel export for TF Serving, and its verification."""

from keras_adapters.export.check import ExportCheck, check_export, run_with_cpp_loader
from keras_adapters.export.saved_model import export_multitask_saved_model, export_saved_model
from keras_adapters.export.version_directory import ExportedModel, read_export_metadata
from keras_adapters.export.client import (
    grpc_predict_request,
    rest_request_body,
    tokenize_for_serving,
    with_task_ids,
)
from keras_adapters.export.routing import LOGIT_PADDING, ROUTED_SIGNATURE, TASK_ID_INPUT
from keras_adapters.export.run_set import RunSet, export_run_set, load_run_set

__all__ = [
    "LOGIT_PADDING",
    "ROUTED_SIGNATURE",
    "TASK_ID_INPUT",
    "ExportCheck",
    "ExportedModel",
    "RunSet",
    "check_export",
    "export_multitask_saved_model",
    "export_run_set",
    "export_saved_model",
    "grpc_predict_request",
    "load_run_set",
    "read_export_metadata",
    "rest_request_body",
    "run_with_cpp_loader",
    "tokenize_for_serving",
    "with_task_ids",
]
