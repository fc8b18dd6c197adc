"""A tiny webhook sink for Alertmanager: prints each notification as one JSON line.

compose.yaml runs it as the ``alert-log`` service so that ``docker compose logs alert-log``
shows what Alertmanager would have sent to Slack, e-mail or a pager. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {"invalid_body": body.decode(errors="replace")}
        alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
        line = {
            "receiver": payload.get("receiver") if isinstance(payload, dict) else None,
            "path": self.path,
            "status": payload.get("status") if isinstance(payload, dict) else None,
            "alerts": [
                {
                    "alertname": a.get("labels", {}).get("alertname"),
                    "severity": a.get("labels", {}).get("severity"),
                    "status": a.get("status"),
                    "summary": a.get("annotations", {}).get("summary"),
                }
                for a in alerts
                if isinstance(a, dict)
            ],
        }
        print(json.dumps(line), flush=True)
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:  # health check
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> int:
    port = int(os.environ.get("ALERT_LOG_PORT", "9099"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"alert-log listening on :{port}", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
