# Third-party dependencies: OpenMP (libgomp), a dense BLAS, nlohmann-json.
find_package(OpenMP REQUIRED COMPONENTS CXX)

# --- BLAS -----------------------------------------------------------------------------------
# The wheel links the PyPI package scipy-openblas32 (symbols prefixed `scipy_`); the C++-only
# build links the system OpenBLAS (Debian libopenblas-dev). Both are made single-threaded at
# start-up (base/blas.cc): BLAS is called inside our own OpenMP loops.
if(SPARSE_RT_BLAS STREQUAL "auto")
  if(SPARSE_RT_BUILD_PYTHON)
    set(SPARSE_RT_BLAS "scipy_openblas32")
  else()
    set(SPARSE_RT_BLAS "openblas")
  endif()
endif()

if(SPARSE_RT_BLAS STREQUAL "scipy_openblas32")
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.9 REQUIRED COMPONENTS Interpreter)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "import scipy_openblas32 as s; print(s.get_lib_dir())"
    OUTPUT_VARIABLE _scipy_openblas_lib OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "SPARSE_RT_BLAS=scipy_openblas32 needs `pip install scipy-openblas32`")
  endif()
  find_package(OpenBLAS CONFIG REQUIRED PATHS "${_scipy_openblas_lib}/cmake/openblas" NO_DEFAULT_PATH)
  set(SPARSE_RT_BLAS_DEFINE SPARSE_RT_BLAS_SCIPY_OPENBLAS=1)
  set(SPARSE_RT_BLAS_LIBDIR "${_scipy_openblas_lib}")
elseif(SPARSE_RT_BLAS STREQUAL "openblas")
  find_package(OpenBLAS CONFIG REQUIRED)
  set(SPARSE_RT_BLAS_DEFINE SPARSE_RT_BLAS_OPENBLAS=1)
else()
  message(FATAL_ERROR "SPARSE_RT_BLAS must be scipy_openblas32, openblas or auto, not '${SPARSE_RT_BLAS}'")
endif()
if(NOT TARGET OpenBLAS::OpenBLAS)   # Debian's config sets variables only
  add_library(OpenBLAS::OpenBLAS UNKNOWN IMPORTED)
  set_target_properties(OpenBLAS::OpenBLAS PROPERTIES
    IMPORTED_LOCATION "${OpenBLAS_LIBRARIES}"
    INTERFACE_INCLUDE_DIRECTORIES "${OpenBLAS_INCLUDE_DIRS}")
endif()
message(STATUS "sparse_rt: BLAS = ${SPARSE_RT_BLAS} (${OpenBLAS_LIBRARIES})")

# --- nlohmann-json (header-only; model-file header parsing) -----------------------------------
find_package(nlohmann_json 3.10 QUIET CONFIG)
if(NOT nlohmann_json_FOUND)
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.9 COMPONENTS Interpreter)
  endif()
  if(Python_EXECUTABLE)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
              "import nlohmann_json, os; print(os.path.join(os.path.dirname(nlohmann_json.__file__), 'include'))"
      OUTPUT_VARIABLE _nlohmann_inc OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
  endif()
  if(NOT _rc EQUAL 0 OR NOT EXISTS "${_nlohmann_inc}/nlohmann/json.hpp")
    message(FATAL_ERROR "nlohmann-json not found: apt-get install nlohmann-json3-dev, or pip install nlohmann-json")
  endif()
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_nlohmann_inc}")
endif()

# --- oneDNN (dense convolution; optional) -----------------------------------------------------
# The wheel links the PyPI packages onednn-cpu-gomp + onednn-devel-cpu-gomp (GNU OpenMP, CMake
# config under <prefix>/lib/cmake/dnnl); the C++-only build finds Debian's libdnnl-dev. Without
# it the dense path runs sparse_rt's own direct kernels (ops/conv.cc).
set(SPARSE_RT_ONEDNN "auto" CACHE STRING "oneDNN for dense convolution: ON, OFF or auto")
if(NOT SPARSE_RT_ONEDNN STREQUAL "OFF")
  set(_dnnl_hints "")
  if(SPARSE_RT_BUILD_PYTHON AND Python_EXECUTABLE)
    # The wheel's data files live under its install prefix (also in an isolated build env).
    execute_process(COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.metadata as m, os\nd = m.distribution('onednn-devel-cpu-gomp')\nprint(next(os.path.dirname(os.path.realpath(d.locate_file(f))) for f in d.files if str(f).endswith('dnnl-config.cmake')))"
      OUTPUT_VARIABLE _dnnl_cfg OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_dnnl_cfg)
      list(APPEND _dnnl_hints "${_dnnl_cfg}")
    endif()
  endif()
  # The C++-only build takes the system's oneDNN (Debian libdnnl-dev), never one that a Python
  # environment on PATH happens to carry.
  set(_dnnl_no_env "")
  if(NOT SPARSE_RT_BUILD_PYTHON)
    set(_dnnl_no_env NO_SYSTEM_ENVIRONMENT_PATH)
  endif()
  # Debian's dnnl-config.cmake calls find_package(OpenCL REQUIRED) (its GPU runtime is OpenCL),
  # a hard configure error without ocl-icd-opencl-dev; in auto mode skip oneDNN instead.
  if(NOT SPARSE_RT_BUILD_PYTHON AND SPARSE_RT_ONEDNN STREQUAL "auto")
    find_package(OpenCL QUIET)
    if(NOT OpenCL_FOUND)
      message(STATUS "sparse_rt: no OpenCL headers (Debian: ocl-icd-opencl-dev), which Debian's "
                     "oneDNN config needs; oneDNN skipped")
      set(_dnnl_skip TRUE)
    endif()
  endif()
  if(_dnnl_skip)
    set(dnnl_FOUND FALSE)
  elseif(SPARSE_RT_ONEDNN STREQUAL "ON")
    find_package(dnnl CONFIG REQUIRED HINTS ${_dnnl_hints} ${_dnnl_no_env})
  else()
    find_package(dnnl CONFIG QUIET HINTS ${_dnnl_hints} ${_dnnl_no_env})
  endif()
  if(dnnl_FOUND)
    get_target_property(_dnnl_configs DNNL::dnnl IMPORTED_CONFIGURATIONS)
    list(GET _dnnl_configs 0 _dnnl_config)
    get_target_property(_dnnl_loc DNNL::dnnl IMPORTED_LOCATION_${_dnnl_config})
    get_filename_component(SPARSE_RT_ONEDNN_LIBDIR "${_dnnl_loc}" DIRECTORY)
    message(STATUS "sparse_rt: oneDNN ${dnnl_VERSION} (${_dnnl_loc})")
  else()
    message(STATUS "sparse_rt: oneDNN not found; dense conv uses the built-in direct kernels")
  endif()
endif()
