# Writes OUTPUT (a header defining EGRESS_BUILD_COMMIT) from `git rev-parse --short=12 HEAD` in
# SOURCE_DIR; when that is no git checkout (a release tarball), FALLBACK, else "unknown".
# configure_file leaves OUTPUT untouched when the text is the same, so an unchanged commit
# rebuilds nothing.
set(commit "")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE commit ERROR_QUIET RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    set(commit "")
  endif()
endif()
if(commit STREQUAL "")
  set(commit "${FALLBACK}")
endif()
if(commit STREQUAL "")
  set(commit "unknown")
endif()
file(CONFIGURE OUTPUT ${OUTPUT} CONTENT "#pragma once\n#define EGRESS_BUILD_COMMIT \"${commit}\"\n" @ONLY)
