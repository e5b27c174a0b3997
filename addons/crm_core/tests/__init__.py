# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from .mixin import CrmTestMixin
from .translation import TranslationTestMixin

__all__ = ['CrmTestMixin', 'TranslationTestMixin']
