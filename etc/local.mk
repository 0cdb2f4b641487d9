# The sample configuration: installed as the default configuration file, and the template the
# Debian configuration scripts rewrite (its values are the built-in defaults, see
# kernelgatekeeper.conf(5)).
kgconf_DATA += etc/kernelgatekeeper.conf
EXTRA_DIST += etc/kernelgatekeeper.conf
