"""A webhook receiver for the sink tests: verifies every delivery with the Standard
Webhooks reference library (PyPI `standardwebhooks`) and keeps each verified batch as
DIR/<webhook-id>.<n>.json, n counting the acknowledged deliveries of that id (a batch
acknowledged twice is kept twice), written whole (renamed into place). The secret is
read from SECRET_FILE at each delivery (the test writes it once the sink is created);
until then, and for the first --fail deliveries, it answers 503 with `Retry-After: 1`,
as it does while DIR/failing exists. A delivery that does not verify is answered 401
and noted in DIR/rejected.log; every attempt is noted in DIR/attempts.log. Listens on
127.0.0.1 only; prints {"port": N} once listening.

Usage: webhook_receiver.py DIR SECRET_FILE [--fail N] [--delay SECONDS]
(--delay: a slow receiver, which keeps a batch and waits that long before it answers)
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

out_dir, secret_file = sys.argv[1], sys.argv[2]
fail = int(sys.argv[sys.argv.index("--fail") + 1]) if "--fail" in sys.argv else 0
delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
lock = threading.Lock()
acknowledged = {}


def note(name, line):
    with lock, open(os.path.join(out_dir, name), "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global fail
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        message = self.headers.get("webhook-id", "")
        note("attempts.log", message)
        with lock:
            failing = fail > 0
            fail -= 1 if failing else 0
        failing = failing or os.path.exists(os.path.join(out_dir, "failing"))
        if failing or not os.path.exists(secret_file):
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.end_headers()
            return
        with open(secret_file) as f:
            secret = f.read().strip()
        try:
            Webhook(secret).verify(body, dict(self.headers))
        except WebhookVerificationError as e:
            note("rejected.log", f"{message}: {e}")
            self.send_response(401)
            self.end_headers()
            return
        with lock:
            n = acknowledged.get(message, 0)
            acknowledged[message] = n + 1
        partial = os.path.join(out_dir, f"{message}.{n}.partial")
        with open(partial, "wb") as f:
            f.write(body)
        os.replace(partial, os.path.join(out_dir, f"{message}.{n}.json"))
        time.sleep(delay)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
server.serve_forever()
