# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Test tools shared by the modules of the suite"""
import doctest
import re

from trytond.tests.test_tryton import OutputChecker, load_doc_tests

# The module path before the name of an exception class
_MODULE_PATH = re.compile(
    r'^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*(?:Error|Warning|Exception)\b)',
    re.M)


def _strip_lines(text):
    return '\n'.join(l.rstrip() for l in text.split('\n'))


class MessageChecker(OutputChecker):
    """Compare the message of an exception in full: only the module path of
    its class may be left out of the expected output, and the spaces at the
    end of its lines (Tryton ends a message without description by "- ")"""

    def check_output(self, want, got, optionflags):
        if super().check_output(want, got, optionflags):
            return True
        if _MODULE_PATH.match(got):
            got = _strip_lines(_MODULE_PATH.sub('', got))
            return super().check_output(_strip_lines(want), got, optionflags)
        return False


def load_scenarios(name, path, loader, tests, pattern, skips=None):
    """Load the scenarios as trytond's load_doc_tests does, but compare the
    messages of the exceptions they show: the scenarios are the manuals,
    the message a user reads is part of what they check"""
    tests = load_doc_tests(name, path, loader, tests, pattern, skips=skips)
    checker = MessageChecker()

    def patch(suite):
        for test in suite:
            if isinstance(test, doctest.DocTestCase):
                test._dt_optionflags &= ~doctest.IGNORE_EXCEPTION_DETAIL
                test._dt_checker = checker
            elif hasattr(test, '__iter__'):
                patch(test)
    patch(tests)
    return tests


class SMTPSink:
    """A real SMTP server on loopback that keeps the messages it receives,
    with trytond's [email] uri pointing to it while it runs

        with SMTPSink() as sink:
            ...
            sink.deliver()  # send what the transaction holds
            sink.messages   # [(from, [to], email.message.EmailMessage)]
    """

    def __enter__(self):
        import socket
        from aiosmtpd.controller import Controller
        from trytond.config import config
        self.messages = []
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        self._controller = Controller(self, hostname='127.0.0.1', port=port)
        self._controller.start()
        self._uri = config.get('email', 'uri', default=None)
        config.set('email', 'uri', f'smtp://127.0.0.1:{port}')
        return self

    def __exit__(self, *exc):
        from trytond.config import config
        self._controller.stop()
        if self._uri is None:
            config.remove_option('email', 'uri')
        else:
            config.set('email', 'uri', self._uri)

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                message_from_bytes(envelope.content, policy=policy.default)))
        return '250 Message accepted for delivery'

    def deliver(self, transaction=None):
        """Send the e-mails the transaction holds through trytond's own
        data manager, as its commit would, without committing the test's
        data"""
        from trytond.sendmail import SMTPDataManager
        from trytond.transaction import Transaction
        transaction = transaction or Transaction()
        for datamanager in list(transaction._datamanagers or []):
            if isinstance(datamanager, SMTPDataManager):
                datamanager.tpc_begin(transaction)
                datamanager.commit(transaction)
                datamanager.tpc_vote(transaction)
                datamanager.tpc_finish(transaction)
                transaction._datamanagers.remove(datamanager)
