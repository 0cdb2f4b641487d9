# Configuration and logging (appended to libkgshared).
src_shared_libkgshared_a_SOURCES += \
	src/shared/config.c src/shared/config.h \
	src/shared/log.c src/shared/log.h
