#!/usr/bin/env bash
# Install llama-cpp-python built for a portable CPU target, never for the build machine's CPU.
#
#   scripts/install-llama-cpp.sh PIP VERSION
#
# llama-cpp-python ships as source only, and its default build (GGML_NATIVE) compiles for
# whatever CPU runs pip: AVX-512 and AMX code that faults on other machines, and on some VMs
# even on the machine that built it. This builds once per target into a wheel directory of
# its own, named for the version and the flags, so that neither pip's wheel cache (which does
# not key on CMAKE_ARGS) nor an earlier native build can ever be installed instead.
set -euo pipefail
pip=$1
version=$2

case "$(uname -m)" in
  x86_64 | amd64)
    # x86-64-v3: AVX2, FMA, F16C, BMI2. No AVX-512, no AMX, no runtime-selected CPU variants.
    target=x86-64-v3
    flags="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF
      -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
      -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
      -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" ;;
  aarch64 | arm64)
    # ARMv8.2-A with dot product and FP16: Apple M1 and later, AWS Graviton 2 and later.
    target=armv8.2-a
    flags="-DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF
      -DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16" ;;
  *)
    echo "llama.cpp: no portable build defined for $(uname -m); see docs/models.md (Embedded runtime)" >&2
    exit 1 ;;
esac

cache=${LLAMA_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rag-chat-backend/llama-cpp-python}
wheels="$cache/$version-$target-$(echo "$flags" | tr -s ' \n' ' ' | sha256sum | cut -c1-12)"

if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "llama.cpp: compiling llama-cpp-python $version for $target (once per machine; several minutes on 2 cores)"
  mkdir -p "$wheels.partial"
  # --no-cache-dir and --no-binary: never reuse a wheel that pip built earlier with other flags.
  CMAKE_ARGS="$(echo "$flags" | tr -s ' \n' ' ')" FORCE_CMAKE=1 "$pip" wheel --no-cache-dir --no-deps \
    --no-binary llama-cpp-python --wheel-dir "$wheels.partial" "llama-cpp-python==$version"
  rm -rf "$wheels" && mv "$wheels.partial" "$wheels"
fi
echo "llama.cpp: installing the $target build from $wheels"
"$pip" install --quiet --force-reinstall --no-deps --no-index --find-links "$wheels" "llama-cpp-python==$version"
