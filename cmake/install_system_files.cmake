# Install-time part of cmake/Packaging.cmake: the files whose directories depend on the prefix
# the install runs with (cpack's /usr, or `cmake --install --prefix P`). Variables egress_* are
# set just before this script by Packaging.cmake. file(INSTALL) honours DESTDIR.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(etc /etc)
  set(unitdir ${egress_usr_unitdir})
else()
  set(etc ${CMAKE_INSTALL_PREFIX}/etc)
  set(unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
if(IS_ABSOLUTE ${egress_sbindir})
  set(sbindir ${egress_sbindir})
else()
  set(sbindir ${CMAKE_INSTALL_PREFIX}/${egress_sbindir})
endif()

# deploy/systemd holds the files as the package installs them (/usr/sbin, /etc/egressd).
foreach(name egressd.service egressd.yaml)
  file(READ ${egress_source_dir}/deploy/systemd/${name} text)
  string(REPLACE "/usr/sbin/egressd" "${sbindir}/egressd" text "${text}")
  string(REPLACE "/etc/egressd" "${etc}/egressd" text "${text}")
  file(WRITE ${egress_stage_dir}/${name} "${text}")
endforeach()

set(mode PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL DESTINATION ${unitdir} TYPE FILE ${mode} FILES ${egress_stage_dir}/egressd.service)
file(INSTALL DESTINATION ${etc}/egressd TYPE FILE ${mode} FILES ${egress_stage_dir}/egressd.yaml)
file(INSTALL DESTINATION ${etc}/egressd/policy TYPE FILE ${mode} FILES ${egress_policy_files})
file(INSTALL DESTINATION ${etc}/logrotate.d TYPE FILE ${mode}
     FILES ${egress_source_dir}/deploy/logrotate/egressd)
