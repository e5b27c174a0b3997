# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model.exceptions import ValidationError


class SurveyError(ValidationError):
    "A survey, a question or an invitation that cannot be so"
