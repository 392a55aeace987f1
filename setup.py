"""Packaging for keras-adapters."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

setup(
    name="keras-adapters",
    version="0.1.0",
    description=(
        "Bottleneck adapters (Houlsby et al. 2019) for Keras 3 and KerasHub: "
        "parameter-efficient fine-tuning of pretrained transformers."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_adapters", "keras_adapters.*"]),
    py_modules=["keras_adapters_launcher"],
    include_package_data=True,
    install_requires=[
        # keras-hub needs tensorflow-text, which needs the full `tensorflow`
        # wheel (not `tensorflow-cpu`): see docs/verification.md.
        "tensorflow==2.21.0",
        "keras>=3.15.1,<4",
        "keras-hub==0.32.0",
        "keras-nlp==0.32.0",
        "keras-tuner>=1.4.8,<1.5",
        # keras-tuner's BayesianOptimization needs scipy and scikit-learn, which it
        # does not declare.
        "scipy>=1.10",
        # Also the classification metrics (keras_adapters.training.metrics).
        "scikit-learn>=1.3",
        # Entity-level NER scores (keras_adapters.data.ner), as conlleval.
        "seqeval>=1.2.2,<1.3",
        # ROUGE of generated summaries (keras_adapters.training.seq2seq_metrics).
        "rouge-score==0.1.2",
        # keras-tuner imports tensorboard on the TF backend without depending on it.
        "tensorboard==2.21.0",
        "tensorflow-datasets>=4.9.10,<5",
        # tfds 4.9.10 imports it when preparing package-defined builders but
        # declares it only for Python < 3.9 (tensorflow/datasets#11212).
        "importlib_resources>=6",
        "numpy>=1.26",
        "safetensors>=0.4",
        "click>=8.1",
        "rich>=13",
        "matplotlib>=3.8",
    ],
    extras_require={
        # pytest-xdist: `make test` runs the suite on two worker processes.
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "tensorflow-serving-api==2.21.0"],
        # gRPC client for TF Serving (keras_adapters.export.grpc_predict_request).
        "serving": ["tensorflow-serving-api==2.21.0"],
        # The other Keras backends (KERAS_BACKEND=jax / torch, `--backend`; docs/backends.md),
        # at the versions tests/test_backends.py runs on. jax[cpu]: ~380 MB installed.
        "jax": ["jax[cpu]==0.10.2"],
        # PyPI's Linux torch is the CUDA build (several GB with its nvidia-* wheels). For the
        # CPU build (~180 MB download) add `--extra-index-url https://download.pytorch.org/whl/cpu`
        # (or --find-links to a folder holding torch-2.13.0+cpu); `==2.13.0` accepts it.
        "torch": ["torch==2.13.0"],
    },
    entry_points={
        # Outside the package, so that `--help` does not load the library.
        "console_scripts": ["keras-adapters=keras_adapters_launcher:main"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
