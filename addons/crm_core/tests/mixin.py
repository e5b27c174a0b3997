# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from lxml import etree

from trytond.model import ModelSQL, ModelStorage, fields
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class CrmTestMixin:
    "The checks every module of the CRM suite passes"

    #: The (model, field) of the module that point to a party and that
    #: party.replace leaves on purpose (said in its doc/reference.rst)
    party_fields_not_replaced = set()

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

    @with_transaction()
    def test_party_fields_replaced(self):
        "Every stored field of the module pointing to a party is replaced"
        pool = Pool()
        ModelField = pool.get('ir.model.field')
        Replace = pool.get('party.replace', type='wizard')
        replaced = set(Replace.fields_to_replace())
        missing = []
        for model_field in ModelField.search([
                    ('module', '=', self.module),
                    ('ttype', 'in', ['many2one', 'reference']),
                    ]):
            Model = pool.get(model_field.model)
            field = Model._fields.get(model_field.name)
            if (not issubclass(Model, ModelSQL)
                    or Model._is_table_query()
                    or isinstance(field, fields.Function)):
                continue
            if field._type == 'many2one':
                points = field.model_name == 'party.party'
            else:
                selection = field.selection
                if isinstance(selection, str):
                    selection = getattr(Model, selection)()
                points = 'party.party' in dict(selection)
            key = (model_field.model, model_field.name)
            if (points and key not in replaced
                    and key not in self.party_fields_not_replaced):
                missing.append('%s.%s' % key)
        self.assertFalse(missing,
            msg="Party fields missing from party.replace: "
            + ', '.join(sorted(missing)))

    @with_transaction()
    def test_list_datetime_widget(self):
        "No list of the module shows a date-time without a widget"
        # sao 8.0 has no list column for a date-time: the screen never
        # opens ("ColumnFactory is not a constructor"); show it as a date
        # and a time column
        pool = Pool()
        View = pool.get('ir.ui.view')
        models = {name for name, _ in pool.iterobject()}
        wrong = []
        for view in View.search([('module', '=', self.module)]):
            base = view
            while base.inherit:
                base = base.inherit
            if base.type != 'tree' or base.model not in models:
                continue
            Model = pool.get(base.model)
            result = Model.fields_view_get(view_id=base.id)
            tree = etree.fromstring(result['arch'])
            for node in tree.iter('field'):
                field = result['fields'].get(node.get('name'), {})
                if (field.get('type') in {'datetime', 'timestamp'}
                        and not node.get('widget')):
                    wrong.append(
                        f"{view.name}: {base.model}.{node.get('name')}")
        self.assertFalse(wrong,
            msg="Date-times without widget in lists: " + ', '.join(wrong))

    @with_transaction()
    def test_configuration_menu(self):
        "The module's Configuration menu opens a form of its own settings"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        ModelField = pool.get('ir.model.field')
        Configuration = pool.get('crm.configuration')
        menu = Menu(ModelData.get_id(self.module, 'menu_configuration_form'))
        action = menu.action
        self.assertEqual(action.res_model, 'crm.configuration')
        self.assertEqual(action.id,
            ModelData.get_id(self.module, 'act_configuration_form'))
        view, = [v.view for v in action.act_window_views]
        self.assertEqual(view.module, self.module)
        self.assertEqual(view.type, 'form')
        arch = etree.fromstring(
            Configuration.fields_view_get(view_id=view.id)['arch'])
        shown = {n.get('name') for n in arch.iter('field')}
        own = {f.name for f in ModelField.search([
                    ('model', '=', 'crm.configuration'),
                    ('module', '=', self.module),
                    ])
            if not isinstance(getattr(ModelSQL, f.name, None), fields.Field)}
        self.assertEqual(shown, own)
