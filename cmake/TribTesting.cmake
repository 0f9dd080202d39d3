# Test helpers shared by every tests/<layer>/CMakeLists.txt.
#
#   trib_add_unit_test(NAME SOURCES a.c b.c [LIBS ...] [LABELS ...] [TIMEOUT s])
#       A CUnit program in build/tests/, run once by ctest, labelled "unit".
#
# Tests reach internals one way: by linking tributary_coll_internal (core +
# coll) or tributary_internal (every layer), static archives of the per-layer
# targets that carry the layers' internal include directories.  Tests of the
# public API link the shared libraries and see include/tributary/ only.
#
#   trib_add_mpi_test(NAME COMMAND exe args... NPROCS 1 2 3 ... [LABELS ...] [TIMEOUT s] [ENV K=V ...])
#       One ctest test per rank count, named NAME_npN, run as
#       mpiexec -n N --oversubscribe <COMMAND>, labelled "mpi".
#
#   trib_add_script_test(NAME COMMAND ... [LABELS ...] [TIMEOUT s] [ENV ...])
#       A shell or other command (end-to-end tests of the apps).
#
# MPI runs get the environment they need on a CI machine: running as root
# allowed, oversubscription allowed, idle ranks yield the core (essential
# when 8 ranks share 2 cores), and leak detection off under the sanitizers
# (Open MPI itself leaks at exit).
set(TRIB_MPI_ENV
  OMPI_ALLOW_RUN_AS_ROOT=1
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  OMPI_MCA_rmaps_base_oversubscribe=1
  OMPI_MCA_mpi_yield_when_idle=1
  OMPI_MCA_btl_vader_single_copy_mechanism=none
  ASAN_OPTIONS=detect_leaks=0
  TRIB_BUILD_DIR=${PROJECT_BINARY_DIR}
  TRIB_SOURCE_DIR=${PROJECT_SOURCE_DIR})
set(TRIB_MPIEXEC ${MPIEXEC_EXECUTABLE} CACHE STRING "mpiexec used by the tests")

# ENV of the tests whose runs mostly end in an expected error.  When a rank exits non-zero,
# mpirun ends the job by SIGTERM and, odls_base_sigkill_timeout (1 s) later, SIGKILL to the
# ranks still running, and waits out that second even when they have all exited: 1-2 s per
# refused command line, most of those tests' time.  The apps report an error before
# MPI_Finalize, which every rank must reach, so the message is out before any rank exits and
# no grace is needed.  Not for tests where a signal must leave time to write a checkpoint.
set(TRIB_EXPECT_ERRORS_ENV OMPI_MCA_odls_base_sigkill_timeout=0)

# Timeouts.  A test's TIMEOUT is set for the optimised build on a loaded machine: a generous
# multiple (at least 3x) of the time it took there beside two busy processes on 2 cores
# (scripts/stress-tests.sh prints the tests that came closest to their timeout).  The sanitizer
# build runs the same code 2-4x slower, so its timeouts are scaled.
if(TRIB_SANITIZE)
  set(_trib_timeout_scale_default 3)
else()
  set(_trib_timeout_scale_default 1)
endif()
set(TRIB_TEST_TIMEOUT_SCALE ${_trib_timeout_scale_default} CACHE STRING
  "factor applied to every test's timeout (3 in sanitizer builds)")

# Scripts that bound a single command with `timeout` scale it by the same factor.
list(APPEND TRIB_MPI_ENV TRIB_TEST_TIMEOUT_SCALE=${TRIB_TEST_TIMEOUT_SCALE})

# trib_scaled_timeout(VAR seconds): VAR = seconds x TRIB_TEST_TIMEOUT_SCALE
function(trib_scaled_timeout var seconds)
  math(EXPR t "${seconds} * ${TRIB_TEST_TIMEOUT_SCALE}")
  set(${var} ${t} PARENT_SCOPE)
endfunction()

function(trib_add_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  trib_scaled_timeout(T_TIMEOUT ${T_TIMEOUT})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CUNIT ${MATH_LIB})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "${TRIB_MPI_ENV}")
endfunction()

function(trib_add_mpi_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "COMMAND;NPROCS;LABELS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  trib_scaled_timeout(T_TIMEOUT ${T_TIMEOUT})
  foreach(np ${T_NPROCS})
    set(procs ${np})
    if(procs GREATER 2)
      set(procs 2)
    endif()
    add_test(NAME ${name}_np${np}
      COMMAND ${TRIB_MPIEXEC} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe ${T_COMMAND})
    set_tests_properties(${name}_np${np} PROPERTIES LABELS "mpi;${T_LABELS}" TIMEOUT ${T_TIMEOUT}
      PROCESSORS ${procs} ENVIRONMENT "${TRIB_MPI_ENV};${T_ENV}")
  endforeach()
endfunction()

function(trib_add_script_test name)
  cmake_parse_arguments(T "" "TIMEOUT;WORKING_DIRECTORY" "COMMAND;LABELS;ENV" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  trib_scaled_timeout(T_TIMEOUT ${T_TIMEOUT})
  if(NOT T_WORKING_DIRECTORY)
    set(T_WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND} WORKING_DIRECTORY ${T_WORKING_DIRECTORY})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} PROCESSORS 2
    ENVIRONMENT "${TRIB_MPI_ENV};TRIB_MPIEXEC=${TRIB_MPIEXEC};${T_ENV}")
endfunction()
