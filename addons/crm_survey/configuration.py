# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import datetime as dt
from email.utils import parseaddr

from trytond.i18n import gettext
from trytond.model import fields
from trytond.pool import PoolMeta

from .exceptions import SurveyError


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    survey_invitation_validity = fields.TimeDelta(
        "Survey Invitation Validity", required=True,
        domain=[('survey_invitation_validity', '>', dt.timedelta())],
        help="How long the link of a survey invitation can be answered.")
    survey_email_from = fields.Char(
        "Survey E-mail From",
        help="The sender of the survey invitations and reminders.\n"
        "Leave empty to use the address of the server configuration "
        "([email] from).")

    @classmethod
    def default_survey_invitation_validity(cls):
        return dt.timedelta(days=30)

    @classmethod
    def validate_fields(cls, configurations, field_names):
        super().validate_fields(configurations, field_names)
        if field_names and 'survey_email_from' not in field_names:
            return
        for configuration in configurations:
            value = configuration.survey_email_from
            if value and '@' not in parseaddr(value)[1]:
                raise SurveyError(gettext(
                        'crm_survey.msg_configuration_email_from',
                        address=value))
