# cmake -DDOXYGEN=... -DDOXYFILE=... -DWARN_LOG=... -P docs_test.cmake
# Runs doxygen on DOXYFILE and fails when it fails or writes any warning to
# WARN_LOG (the Doxyfile's WARN_LOGFILE), printing the warnings.
file(REMOVE ${WARN_LOG})
execute_process(COMMAND ${DOXYGEN} ${DOXYFILE} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen ${DOXYFILE} failed: ${rc}")
endif()
if(NOT EXISTS ${WARN_LOG})
  message(FATAL_ERROR "doxygen wrote no ${WARN_LOG}")
endif()
file(STRINGS ${WARN_LOG} warnings REGEX "warning:|error:")
file(READ ${WARN_LOG} log)
if(NOT log STREQUAL "")
  list(LENGTH warnings count)
  message(FATAL_ERROR "doxygen warned ${count} time(s) on the API reference; every public member needs a /// comment:\n${log}")
endif()
