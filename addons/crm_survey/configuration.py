# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt

from trytond.model import fields
from trytond.pool import PoolMeta


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    survey_invitation_validity = fields.TimeDelta(
        "Survey Invitation Validity", required=True,
        domain=[('survey_invitation_validity', '>', dt.timedelta())],
        help="How long the link of a survey invitation can be answered.")

    @classmethod
    def default_survey_invitation_validity(cls):
        return dt.timedelta(days=30)
