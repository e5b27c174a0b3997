# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.modules.crm_core.tests.tools import load_scenarios


def load_tests(*args, **kwargs):
    return load_scenarios(__name__, __file__, *args, **kwargs)
