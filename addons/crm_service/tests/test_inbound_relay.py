# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A reply relayed to the other followers of a ticket, delivered again"""
import unittest
from email.message import EmailMessage

from trytond.modules.company.tests import create_company, set_company
from trytond.modules.crm_core.tests.tools import SMTPSink
from trytond.pool import Pool
from trytond.tests.test_tryton import activate_module, with_transaction


def email(sender, subject, message_id, in_reply_to=None):
    message = EmailMessage()
    message['From'] = sender
    message['To'] = 'support@example.org'
    message['Subject'] = subject
    message['Message-ID'] = message_id
    if in_reply_to:
        message['In-Reply-To'] = in_reply_to
    message.set_content("Any news?")
    return message


class HelpdeskInboundRelayTestCase(unittest.TestCase):
    "Test the replies relayed to the followers of a ticket"

    @classmethod
    def setUpClass(cls):
        activate_module('crm_service')

    @with_transaction()
    def test_relayed_reply_delivered_again(self):
        "A colleague's reply relayed to the customer is posted once"
        pool = Pool()
        Email = pool.get('inbound.email')
        Inbox = pool.get('inbound.email.inbox')
        Message = pool.get('ir.chat.message')

        def deliver(message):
            email_, = Email.create([{
                        'inbox': inbox.id, 'data': message.as_bytes(),
                        'data_type': 'raw'}])
            Email.process([email_])
            return email_.result

        company = create_company()
        with set_company(company):
            inbox = Inbox(name="Support", rules=[{
                        'action': 'crm.ticket|create_from_inbound_email'}])
            inbox.save()
            ticket = deliver(email(
                    'ann@example.com', "Broken", '<first@example.com>'))
            reply = email('bob@example.com', "Re: Broken",
                '<reply@example.com>', '<first@example.com>')
            with SMTPSink() as sink:
                self.assertEqual(deliver(reply), ticket)
                sink.deliver()
            # Ann follows the ticket: Bob's reply goes to her
            (_, recipients, relayed), = sink.messages
            self.assertEqual(recipients, ['ann@example.com'])
            post, = Message.search([
                    ('channel.resource', '=', str(ticket)),
                    ('audience', '=', 'public'),
                    ])
            self.assertEqual(post.reference, relayed['Message-ID'])
            self.assertEqual(post.crm_email_message_id, '<reply@example.com>')

            # delivered again: nothing more, nothing relayed
            with SMTPSink() as sink:
                self.assertEqual(deliver(reply), ticket)
                sink.deliver()
            self.assertEqual(sink.messages, [])
            self.assertEqual(Message.search([
                        ('channel.resource', '=', str(ticket)),
                        ('audience', '=', 'public'),
                        ], count=True), 1)

            # Ann's answer to the relayed e-mail finds the ticket
            self.assertEqual(deliver(email('ann@example.com', "Re: news",
                        '<third@example.com>', relayed['Message-ID'])),
                ticket)
            # so does an answer to Bob's own e-mail
            self.assertEqual(deliver(email('carl@example.com', "Re: news",
                        '<fourth@example.com>', '<reply@example.com>')),
                ticket)
