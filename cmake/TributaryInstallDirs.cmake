# Where `cmake --install` puts the host (component `host`); the Debian packages use prefix
# /usr (scripts/setup.sh configures build/ so). The host compiles the full paths in
# (core/config/install_paths.cpp) and uses them when it does not run from a build tree.
#   <prefix>/bin/tributary
#   <prefix>/lib/tributary/plugins/*.so   modules (the default plugins dir)
#   <prefix>/lib/tributary/*.so           helper libraries (the modules' RUNPATH is $ORIGIN/..)
#   <sysconfdir>/tributary/tributary.conf and conf.d/<input>/*.conf.sample
#   <localstatedir>/lib/tributary         the default data dir
# With prefix /usr, GNUInstallDirs makes sysconfdir /etc and localstatedir /var. The host
# keeps the prefix given at configure time: `cmake --install --prefix X` moves the files,
# not the paths compiled in (configure with -DCMAKE_INSTALL_PREFIX=X instead).
include(GNUInstallDirs)
set(TRIB_INSTALL_PKGLIBDIR lib/tributary)
set(TRIB_INSTALL_PLUGINDIR ${TRIB_INSTALL_PKGLIBDIR}/plugins)
set(TRIB_INSTALL_FULL_PLUGINDIR ${CMAKE_INSTALL_PREFIX}/${TRIB_INSTALL_PLUGINDIR})
set(TRIB_INSTALL_FULL_CONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tributary)
set(TRIB_INSTALL_FULL_DATADIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/tributary)
