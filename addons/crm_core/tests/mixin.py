# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.model import ModelStorage
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class CrmTestMixin:
    "The checks every module of the CRM suite passes"

    @with_transaction()
    def test_model_group_access(self):
        "Every stored model the module creates has access rows for groups"
        pool = Pool()
        Access = pool.get('ir.model.access')
        IrModel = pool.get('ir.model')
        models = {m.name for m in IrModel.search([
                    ('module', '=', self.module),
                    ])}
        with_groups = {a.model for a in Access.search([
                    ('group', '!=', None),
                    ])}
        missing = sorted(
            name for name, Model in pool.iterobject()
            if name in models
            and issubclass(Model, ModelStorage)
            and not Model.__access__
            and name not in with_groups)
        self.assertFalse(missing,
            msg="Models without access rows for the suite's groups: "
            + ', '.join(missing))
