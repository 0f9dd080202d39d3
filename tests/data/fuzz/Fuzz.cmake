# libFuzzer target for the text parser.  The project compiles with gcc by
# default, so the fuzzer is built by a custom command calling clang directly on
# the parser's sources (plus the few files they need), with
# -fsanitize=fuzzer,address,undefined.  Without clang the ctest reports
# "skipped" (exit code 77), never a pass.
set(TRIB_FUZZ_SECONDS 10 CACHE STRING "Duration of the fuzz ctest (longer runs: cmake -DTRIB_FUZZ_SECONDS=600)")
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(TRIB_CLANG ${CMAKE_C_COMPILER})
else()
  find_program(TRIB_CLANG NAMES clang clang-16 clang-15 clang-14)
endif()

set(fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
if(TRIB_CLANG)
  set(fuzz_srcs ${fuzz_dir}/fuzz_text_parse.c
      ${PROJECT_SOURCE_DIR}/src/data/text_parse.c ${PROJECT_SOURCE_DIR}/src/data/idmap.c
      ${PROJECT_SOURCE_DIR}/src/data/ratings.c ${PROJECT_SOURCE_DIR}/src/io/h5.c
      ${PROJECT_SOURCE_DIR}/src/io/crc32c.c ${PROJECT_SOURCE_DIR}/src/core/alloc.c
      ${PROJECT_SOURCE_DIR}/src/core/status.c
      ${PROJECT_SOURCE_DIR}/src/core/rng.c)
  set(fuzz_incs -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_BINARY_DIR}/include -I${PROJECT_SOURCE_DIR}/src)
  foreach(d ${HDF5_INCLUDE_DIRS} ${MPI_C_INCLUDE_DIRS})
    list(APPEND fuzz_incs -I${d})
  endforeach()
  set(fuzz_libs ${HDF5_LINK_LIBRARIES} ${MPI_C_LIBRARIES} -lm)
  set(fuzz_exe ${PROJECT_BINARY_DIR}/tests/fuzz_text_parse)
  add_custom_command(OUTPUT ${fuzz_exe}
    COMMAND ${TRIB_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
            ${fuzz_incs} ${fuzz_srcs} ${fuzz_libs} -o ${fuzz_exe}
    DEPENDS ${fuzz_srcs} ${PROJECT_SOURCE_DIR}/src/data/internal.h ${PROJECT_SOURCE_DIR}/include/tributary/data.h
    COMMENT "Building the libFuzzer target fuzz_text_parse with ${TRIB_CLANG}" VERBATIM)
  add_custom_target(fuzz_text_parse ALL DEPENDS ${fuzz_exe})
  # New inputs go to the first corpus directory (in the build tree); the seeds stay read-only.
  file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/tests/fuzz-corpus)
  add_test(NAME data_fuzz_text_parse
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            ${fuzz_exe} -max_total_time=${TRIB_FUZZ_SECONDS} -max_len=4096 -timeout=10 -print_final_stats=1
            ${PROJECT_BINARY_DIR}/tests/fuzz-corpus ${fuzz_dir}/corpus)
else()
  add_test(NAME data_fuzz_text_parse
    COMMAND sh -c "echo 'data_fuzz_text_parse: skipped: no clang found to build the libFuzzer target'; exit 77")
  set_tests_properties(data_fuzz_text_parse PROPERTIES SKIP_RETURN_CODE 77)
endif()
set_tests_properties(data_fuzz_text_parse PROPERTIES LABELS "fuzz" TIMEOUT 180)
