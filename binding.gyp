# node-gyp build of the CPU addon: what node-gyp-build falls back to when no prebuild
# fits. Sources come from native/sources.json, the list
# CMakeLists.txt reads too. The CUDA plugin is CMake's alone.
{
  "variables": {
    "eigen_dir": "<!(node scripts/eigen-include.js)",
    "lk_flags": ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fPIC", "-std=c++17"],
  },
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
    "cflags_cc": ["<@(lk_flags)", "-fexceptions", "-frtti"],
    "include_dirs": ["native"],
    # The preconditioners' dense algebra: Eigen where its headers are found (scripts/eigen-include.js).
    "conditions": [
      ["eigen_dir!=''", { "defines": ["LK_HAVE_EIGEN", "EIGEN_MPL2_ONLY"], "include_dirs": ["<(eigen_dir)"] }],
    ],
  },
  "targets": [
    {
      "target_name": "lk_kernels_base",
      "type": "static_library",
      "sources": ["<!@(node -p \"require('./native/sources.json').kernels.join(' ')\")"],
      "defines": ["LK_ISA_NS=base"],
    },
    {
      "target_name": "lazykernel",
      "sources": ["<!@(node -p \"require('./native/sources.json').addon.join(' ')\")"],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
        "lk_kernels_base",
      ],
      "defines": ["NAPI_VERSION=9"],
      "ldflags": ["-fopenmp", "-Wl,-rpath,'$$ORIGIN'"],
      "libraries": ["-ldl"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["lk_kernels_avx2", "lk_kernels_avx512"] }],
      ],
    },
  ],
  "conditions": [
    ["target_arch=='x64'", { "targets": [
      {
        "target_name": "lk_kernels_avx2",
        "type": "static_library",
        "sources": ["<!@(node -p \"require('./native/sources.json').kernels.join(' ')\")"],
        "defines": ["LK_ISA_NS=avx2"],
        "cflags_cc": ["-mavx2", "-mfma"],
      },
      {
        "target_name": "lk_kernels_avx512",
        "type": "static_library",
        "sources": ["<!@(node -p \"require('./native/sources.json').kernels.join(' ')\")"],
        "defines": ["LK_ISA_NS=avx512"],
        "cflags_cc": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx512bw", "-mavx2", "-mfma", "-mprefer-vector-width=512"],
      },
    ] }],
  ],
}
