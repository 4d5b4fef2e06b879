#!/usr/bin/python3
# An SMTP server for tests (Debian's python3-aiosmtpd): STARTTLS, implicit TLS or plain, optional AUTH; each message
# it accepts is written to DIR as N.eml and N.json (envelope, TLS, login, and the message parsed by Python's email module).
#
# Usage: smtp-sink.py --port N --dir DIR [--mode plain|starttls|smtps] [--require-starttls] --cert PEM --key PEM
#                     [--auth-user U --auth-password-file F [--auth-required]]
# Prints "ready" on stdout once it accepts connections; SIGTERM or SIGINT stops it.

import argparse
import json
import os
import signal
import ssl
import sys
import threading
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--dir', required=True)
    p.add_argument('--mode', choices=['plain', 'starttls', 'smtps'], default='starttls')
    p.add_argument('--require-starttls', action='store_true')
    p.add_argument('--cert')
    p.add_argument('--key')
    p.add_argument('--auth-user')
    p.add_argument('--auth-password-file')
    p.add_argument('--auth-required', action='store_true')
    return p.parse_args()


def parsed(raw):
    """The message as the test reads it: headers, the text body and each attachment decoded."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(preferencelist=('plain',))
    attachments = []
    for part in msg.iter_attachments():
        content = part.get_content()
        attachments.append({
            'filename': part.get_filename(),
            'contentType': part.get_content_type(),
            'content': content.decode('utf-8', 'replace') if isinstance(content, bytes) else content,
        })
    return {
        'subject': msg['subject'],
        'from': msg['from'],
        'to': msg['to'],
        'headers': {k: str(v) for k, v in msg.items()},
        'text': body.get_content() if body is not None else None,
        'attachments': attachments,
    }


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        raw = envelope.original_content or envelope.content
        tls = session.ssl is not None or server.transport.get_extra_info('ssl_object') is not None
        record = {
            'mailFrom': envelope.mail_from,
            'rcptTos': envelope.rcpt_tos,
            'tls': tls,
            'login': session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            'message': parsed(raw),
        }
        base = os.path.join(self.directory, str(n))
        with open(base + '.eml', 'wb') as f:
            f.write(raw)
        # The .json last, renamed into place: a reader that sees it sees the whole message.
        with open(base + '.json.tmp', 'w') as f:
            json.dump(record, f)
        os.rename(base + '.json.tmp', base + '.json')
        return '250 Message accepted for delivery'


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: aiosmtpd answers a refusal with 535 itself (True would leave the client waiting for an answer).
        return AuthResult(success=ok, handled=ok, auth_data=auth_data if ok else None)
    return authenticate


def main():
    a = parse_args()
    context = None
    if a.mode != 'plain':
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
    kwargs = {}
    if a.mode == 'starttls':
        kwargs['tls_context'] = context
        kwargs['require_starttls'] = a.require_starttls
    if a.auth_user:
        with open(a.auth_password_file) as f:
            password = f.read().rstrip('\n')
        kwargs['authenticator'] = authenticator_for(a.auth_user, password)
        kwargs['auth_required'] = a.auth_required
        # aiosmtpd counts only STARTTLS as TLS; under implicit TLS the whole connection is.
        kwargs['auth_require_tls'] = a.mode != 'smtps'
    controller = Controller(
        Sink(a.dir), hostname=a.host, port=a.port,
        ssl_context=context if a.mode == 'smtps' else None, server_hostname='sink.test', **kwargs)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print('ready', flush=True)
    stop.wait()
    controller.stop()


if __name__ == '__main__':
    sys.exit(main())
