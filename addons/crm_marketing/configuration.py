# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from email.utils import parseaddr

from trytond.i18n import gettext
from trytond.model import fields
from trytond.model.exceptions import ValidationError
from trytond.pool import PoolMeta


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    mailing_sender = fields.Char(
        "Mailing Sender",
        help="The From address of mass e-mails, "
        "e.g. \"Example Ltd <news@example.com>\".\n"
        "Leave empty to use the server's default sender.")
    mailing_batch_size = fields.Integer(
        "Mailing Batch Size", required=True,
        domain=[('mailing_batch_size', '>', 0)],
        help="How many e-mails of a mailing are sent by one queued task.")

    rfm_window = fields.Integer(
        "RFM Window", required=True,
        domain=[('rfm_window', '>', 0)],
        help="The days of invoices the frequency and the monetary value of "
        "the RFM scores count (the recency looks at every invoice).")

    @classmethod
    def default_mailing_batch_size(cls):
        return 500

    @classmethod
    def default_rfm_window(cls):
        return 365

    @classmethod
    def validate_fields(cls, configurations, field_names):
        super().validate_fields(configurations, field_names)
        cls.check_mailing_sender(configurations, field_names)

    @classmethod
    def check_mailing_sender(cls, configurations, field_names=None):
        if field_names and 'mailing_sender' not in field_names:
            return
        for configuration in configurations:
            sender = configuration.mailing_sender
            if not sender:
                continue
            _, address = parseaddr(sender)
            local, _, domain = address.rpartition('@')
            if not local or '.' not in domain or ' ' in address:
                raise ValidationError(gettext(
                        'crm_marketing.msg_mailing_sender_invalid',
                        sender=sender))
