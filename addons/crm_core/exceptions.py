# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import ValidationError


class StageError(UserError):
    pass


class LostReasonError(UserError):
    pass


class ActivityValidationError(ValidationError):
    pass


class MergeError(UserError):
    pass


class DuplicateWarning(UserWarning):
    pass


class AssignmentRuleDomainError(ValidationError):
    pass


class ScoringRuleError(ValidationError):
    pass


class LeadImportError(UserError):
    pass
