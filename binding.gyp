{
  "variables": {
    "shortgpt_defines": [
      "NAPI_VERSION=8",
      "NAPI_CPP_EXCEPTIONS",
      "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
      "SHORTGPT_BUILD_SYSTEM=\"node-gyp\""
    ],
    "shortgpt_cflags": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fexceptions", "-fvisibility=hidden"]
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "defines": ["<@(shortgpt_defines)"],
    "cflags!": ["-fno-exceptions", "-O2"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-O2"],
    "cflags_cc": ["<@(shortgpt_cflags)"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_OPTIMIZATION_LEVEL": "3",
      "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    "msvs_settings": {
      "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17", "/O2"] }
    }
  },
  "targets": [
    {
      "target_name": "shortgpt",
      "sources": ["<!@(node scripts/native-sources.cjs portable)"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["shortgpt_avx2", "shortgpt_avx512"],
          "defines": ["SHORTGPT_HAVE_X86_SIMD=1"]
        }]
      ]
    }
  ],
  "conditions": [
    # The AVX kernels: their own ISA flags, called only after run-time CPU
    # detection (native/cpu/cpu_features); other architectures get the scalar path.
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "shortgpt_avx2",
          "type": "static_library",
          "sources": ["<!@(node scripts/native-sources.cjs avx2)"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma", "-mf16c"] },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX2"] } }
        },
        {
          "target_name": "shortgpt_avx512",
          "type": "static_library",
          "sources": ["<!@(node scripts/native-sources.cjs avx512)"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni", "-mavx512bf16", "-mfma", "-mf16c"],
          "xcode_settings": {
            "OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni", "-mavx512bf16", "-mfma", "-mf16c"]
          },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX512"] } }
        }
      ]
    }]
  ]
}
