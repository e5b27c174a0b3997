# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelSingleton, ModelSQL, ModelView, fields
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)


class Configuration(
        ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    __name__ = 'crm.configuration'
    __string__ = "CRM Configuration"

    duplicate_threshold = fields.Float(
        "Duplicate Threshold", digits=(1, 2), required=True,
        domain=[
            ('duplicate_threshold', '>', 0),
            ('duplicate_threshold', '<=', 1),
            ],
        help="Name similarity (0 to 1) from which two parties or leads "
        "are listed as duplicate candidates.")
    web_form_rate_limit = fields.Integer(
        "Web Form Rate Limit", required=True,
        domain=[('web_form_rate_limit', '>', 0)],
        help="How many leads one network address may submit per hour "
        "through the public web form.")
    web_form_utm_create = fields.Boolean(
        "Create UTM Values",
        help="Check to let the web form create the marketing campaigns, "
        "mediums and sources it names that do not exist yet (from names of "
        "letters, digits, spaces, dots, dashes and underscores, starting "
        "with a letter or digit, at most 64 characters); otherwise only "
        "existing ones are set on the leads.")
    assignment_auto = fields.Boolean(
        "Assign New Leads",
        help="Check to route the new leads without salesperson through the "
        "assignment rules.")

    @classmethod
    def default_assignment_auto(cls):
        return True

    @classmethod
    def default_duplicate_threshold(cls):
        return 0.6

    @classmethod
    def default_web_form_utm_create(cls):
        return False

    @classmethod
    def default_web_form_rate_limit(cls):
        return 20


class ConfigurationSequence(ModelSQL, CompanyValueMixin):
    """The per-company sequences of the CRM; each module of the suite adds the
    sequence of its own documents (tickets, loyalty cards, …)."""
    __name__ = 'crm.configuration.sequence'
    __string__ = "CRM Configuration Sequence"
