# Writes OUTPUT (a header defining EGRESS_BUILD_COMMIT) from `git rev-parse --short=12 HEAD` when
# SOURCE_DIR is the top of a git checkout; otherwise (a release tarball, even one unpacked inside
# some other repository) FALLBACK, else "unknown". file(CONFIGURE) leaves OUTPUT untouched when the
# text is the same, so an unchanged commit rebuilds nothing.
set(commit "")
find_package(Git QUIET)
if(GIT_FOUND)
  # safe.directory: a packager's build as another user than the checkout's owner (git >= 2.35.2
  # refuses such a repository otherwise; older versions ignore the setting).
  set(git ${GIT_EXECUTABLE} -c safe.directory=* -C ${SOURCE_DIR})
  execute_process(COMMAND ${git} rev-parse --show-toplevel OUTPUT_VARIABLE top ERROR_QUIET
                  RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(REAL_PATH "${SOURCE_DIR}" source_real)
  if(rc EQUAL 0 AND NOT top STREQUAL "")
    file(REAL_PATH "${top}" top_real)
    if(top_real STREQUAL source_real)
      execute_process(COMMAND ${git} rev-parse --short=12 HEAD OUTPUT_VARIABLE commit ERROR_QUIET
                      RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(NOT rc EQUAL 0)
        set(commit "")
      endif()
    endif()
  endif()
endif()
if(commit STREQUAL "")
  set(commit "${FALLBACK}")
endif()
if(commit STREQUAL "")
  set(commit "unknown")
endif()
file(CONFIGURE OUTPUT ${OUTPUT} CONTENT "#pragma once\n#define EGRESS_BUILD_COMMIT \"${commit}\"\n" @ONLY)
