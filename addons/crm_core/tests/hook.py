# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""A module's modification hook on the leads, registered for the tests only
(tests/tryton.cfg): it records the leads it is called for."""
from trytond.pool import PoolMeta

# The ids of the leads created, while a test sets a list
CREATED = None


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        super().on_modification(mode, opportunities, field_names=field_names)
        if mode == 'create' and CREATED is not None:
            CREATED.extend(o.id for o in opportunities)
