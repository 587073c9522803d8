"""The receivers of scripts/bench-sinks.sh, on loopback, standard library only.

  sink-receiver.py ack   PORT_FILE   answers every POST 204 once its body is read
                                     (HTTP/1.1, kept alive): a receiver as fast as one
                                     Python thread per connection allows;
  sink-receiver.py stall PORT_FILE   listens and never accepts: a dead receiver that
                                     holds every connection until the sender gives up.

Writes the port it listens on to PORT_FILE.
"""

import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

kind, port_file = sys.argv[1], sys.argv[2]


class Ack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if kind == "ack":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ack)
    port = server.server_address[1]
    with open(port_file, "w") as f:
        f.write(f"{port}\n")
    server.serve_forever()
else:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    with open(port_file, "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    while True:
        time.sleep(3600)
