"""HTTP Strict Transport Security: once a browser reached the Help Center over
HTTPS, it refuses plain HTTP to it for a year (no downgrade, no stripped TLS).

Sent only on answers that went out over HTTPS (RFC 6797 section 8.1: over HTTP it
would mean nothing and could be forged). ``req.scheme`` is ``https`` when gunicorn
serves TLS itself (``HELPDESK_TLS_CERT_FILE``) and when a trusted proxy in gunicorn's
``forwarded_allow_ips`` says ``X-Forwarded-Proto: https``. No ``includeSubDomains``:
the Help Center may live beside a host platform's other sites.
"""

from __future__ import annotations

HEADER = "Strict-Transport-Security"
VALUE = "max-age=31536000"


class StrictTransportSecurity:
    """Falcon middleware adding HSTS to every HTTPS answer, errors included."""

    def process_response(self, req, resp, resource, req_succeeded):
        if req.scheme == "https":
            resp.set_header(HEADER, VALUE)
