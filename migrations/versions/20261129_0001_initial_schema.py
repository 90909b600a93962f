"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 13:28:03.604498

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('entity_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('entity_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_event_hash'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_entity_id'), ['entity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_region_code'), ['region_code'], unique=False)

    op.create_table('region',
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('certification_period_months', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_region'))
    )
    op.create_table('staff_user',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('full_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('region_scope', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user'))
    )
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_user_username'), ['username'], unique=True)

    op.create_table('pensioner',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('national_id', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('sex', sa.Enum('M', 'F', name='sex', native_enum=False, length=32), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('residence', sa.Enum('local', 'away', 'overseas', name='residence', native_enum=False, length=32), nullable=False),
    sa.Column('overseas_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('overseas_timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('benefit_type', sa.Enum('pension', 'unemployment', name='benefittype', native_enum=False, length=32), nullable=False),
    sa.Column('benefit_status', sa.Enum('active', 'suspended', 'terminated', name='benefitstatus', native_enum=False, length=32), nullable=False),
    sa.Column('monthly_amount_fen', sa.Integer(), nullable=False),
    sa.Column('mobility_limited', sa.Boolean(), nullable=False),
    sa.Column('preferred_language', sa.Enum('zh', 'en', name='language', native_enum=False, length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_pensioner_region_code_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pensioner'))
    )
    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pensioner_name'), ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_pensioner_national_id'), ['national_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_pensioner_region_code'), ['region_code'], unique=False)

    op.create_table('refresh_token',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_user.id'], name=op.f('fk_refresh_token_staff_id_staff_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_token'))
    )
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_token_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_token_staff_id'), ['staff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_token_token_hash'), ['token_hash'], unique=True)

    op.create_table('otp_code',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('consumed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_otp_code_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_otp_code'))
    )
    with op.batch_alter_table('otp_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_otp_code_pensioner_id'), ['pensioner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('otp_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_otp_code_pensioner_id'))

    op.drop_table('otp_code')
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_token_token_hash'))
        batch_op.drop_index(batch_op.f('ix_refresh_token_staff_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_token_family_id'))

    op.drop_table('refresh_token')
    with op.batch_alter_table('pensioner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pensioner_region_code'))
        batch_op.drop_index(batch_op.f('ix_pensioner_national_id'))
        batch_op.drop_index(batch_op.f('ix_pensioner_name'))

    op.drop_table('pensioner')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_user_username'))

    op.drop_table('staff_user')
    op.drop_table('region')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_region_code'))
        batch_op.drop_index(batch_op.f('ix_audit_event_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_entity_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')
