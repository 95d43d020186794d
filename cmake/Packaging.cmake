# What `cmake --install` lays out and the Debian package CPack makes of it (`make package`;
# docs/deployment.md, "Debian package"). Included at the end of CMakeLists.txt.
#
#   <prefix>/sbin/egressd, <prefix>/bin/egressctl          (src/cli/CMakeLists.txt)
#   <prefix>/share/man/man8/egressd.8.gz, man1/egressctl.1.gz (man/CMakeLists.txt)
#   <prefix>/share/doc/egressd/*.md, <prefix>/share/egressd/redirect-rules.sh
#   <etc>/egressd/egressd.yaml, <etc>/egressd/policy/*.yaml, <etc>/logrotate.d/egressd
#   <unitdir>/egressd.service
#
# <etc> is /etc and <unitdir> systemd's unit directory (/lib/systemd/system on Debian 12) when the
# prefix is /usr, as in the package; with another prefix they are <prefix>/etc and
# <prefix>/lib/systemd/system. cpack installs with the prefix /usr after configuring, so these two
# are decided when the install runs (cmake/install_system_files.cmake), and the unit and config
# are rewritten there to name the binary and /etc paths of that layout.
include(GNUInstallDirs)

set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

if(EXISTS ${PROJECT_SOURCE_DIR}/man/CMakeLists.txt)
  add_subdirectory(man)
endif()

pkg_get_variable(EGRESS_SYSTEMD_UNITDIR systemd systemdsystemunitdir)
if(NOT EGRESS_SYSTEMD_UNITDIR)
  set(EGRESS_SYSTEMD_UNITDIR /lib/systemd/system)
endif()

# The example policy becomes /etc/egressd/policy: the same list is installed and marked conffiles.
file(GLOB egress_policy_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/policy/*.yaml)
list(SORT egress_policy_files)
install(CODE "
set(egress_source_dir \"${PROJECT_SOURCE_DIR}\")
set(egress_stage_dir \"${PROJECT_BINARY_DIR}/install-stage\")
set(egress_sbindir \"${CMAKE_INSTALL_SBINDIR}\")
set(egress_usr_unitdir \"${EGRESS_SYSTEMD_UNITDIR}\")
set(egress_policy_files \"${egress_policy_files}\")
")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_system_files.cmake)

file(GLOB egress_docs ${PROJECT_SOURCE_DIR}/docs/*.md ${PROJECT_SOURCE_DIR}/docs/*.json)
install(FILES ${egress_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/redirect-rules.sh
        DESTINATION ${CMAKE_INSTALL_DATADIR}/egressd)

# The .deb. Its file list is the install above with the prefix /usr.
set(egress_conffiles /etc/egressd/egressd.yaml /etc/logrotate.d/egressd)
foreach(f IN LISTS egress_policy_files)
  get_filename_component(name ${f} NAME)
  list(APPEND egress_conffiles /etc/egressd/policy/${name})
endforeach()
list(JOIN egress_conffiles "\n" egress_conffiles_text)
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "${egress_conffiles_text}\n")

set(EGRESS_PACKAGE_MAINTAINER "egressd maintainers <egressd@example.org>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME egressd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${EGRESS_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "policy-enforcing egress gateway")
set(CPACK_PACKAGE_DESCRIPTION
    "egressd receives outbound TCP connections redirected to it by the kernel, decides with a\n"
    "policy directory whether each may leave, relays the allowed ones and writes a hash-chained\n"
    "audit log. egressctl checks, explains and tests policies and verifies audit logs.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS ${CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies computed by dpkg-shlibdeps (dpkg-dev); the maintainer scripts need
# adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "iptables, iproute2")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm ${PROJECT_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
