# Protocol parsers of the client (sniffing, HTTP heads)
