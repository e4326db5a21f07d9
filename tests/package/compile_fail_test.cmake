# Builds TARGET in BUILD_DIR and passes when the build fails with exactly
# EXPECTED errors, each about a deleted function (and no other error).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}\n${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not:\n${log}")
endif()
string(REGEX MATCHALL "error: [^\n]*" errors "${log}")
string(REGEX MATCHALL "error: [^\n]*deleted[^\n]*" deleted "${log}")
list(LENGTH errors n_errors)
list(LENGTH deleted n_deleted)
if(NOT n_deleted EQUAL EXPECTED OR NOT n_errors EQUAL EXPECTED)
  message(FATAL_ERROR "${TARGET}: expected ${EXPECTED} errors about deleted functions, got ${n_deleted} of "
                      "${n_errors} errors:\n${log}")
endif()
message(STATUS "${TARGET}: the compiler rejected all ${EXPECTED} misuses")
