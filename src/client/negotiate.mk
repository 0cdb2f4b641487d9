# Kerberos/SPNEGO for the client
