"""feeds authenticated by source: agencies' feed keys, the sender's region scope on a batch,
death records held for a second staff member

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 18:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('feed_batch', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'region_scope',
                sqlmodel.sql.sqltypes.AutoString(length=6),
                nullable=False,
                server_default='',
            )
        )
    op.create_table(
        'feed_client',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('source_authority', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('key_prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_by_id', sa.Uuid(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by_id', sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_feed_client_created_by_id_staff_user')),
        sa.ForeignKeyConstraint(['revoked_by_id'], ['staff_user.id'], name=op.f('fk_feed_client_revoked_by_id_staff_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_client')),
        sa.UniqueConstraint('name', name=op.f('uq_feed_client_name')),
    )
    with op.batch_alter_table('feed_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_client_key_hash'), ['key_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_feed_client_source_authority'), ['source_authority'], unique=False)
    op.create_table(
        'held_death_record',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('batch_id', sa.Uuid(), nullable=False),
        sa.Column('row_number', sa.Integer(), nullable=False),
        sa.Column('feed_type', sa.Enum('death', 'cremation', 'hospital_visit', 'insurance_claim', 'air_travel', 'rail_travel', 'card_use', 'benefit_payment', name='feedtype', native_enum=False, create_constraint=False, length=32), nullable=False),
        sa.Column('national_id', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('date_of_birth', sa.Date(), nullable=True),
        sa.Column('event_date', sa.Date(), nullable=False),
        sa.Column('facility', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('source_authority', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('pensioner_id', sa.Uuid(), nullable=True),
        sa.Column('reasons', sa.JSON(), nullable=False),
        sa.Column('status', sa.Enum('awaiting_confirmation', 'confirmed', 'refused', name='holdstatus', native_enum=False, create_constraint=False, length=32), nullable=False),
        sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['feed_batch.id'], name=op.f('fk_held_death_record_batch_id_feed_batch')),
        sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_held_death_record_pensioner_id_pensioner')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_held_death_record')),
    )
    with op.batch_alter_table('held_death_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_held_death_record_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_held_death_record_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_held_death_record_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('held_death_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_held_death_record_status'))
        batch_op.drop_index(batch_op.f('ix_held_death_record_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_held_death_record_batch_id'))
    op.drop_table('held_death_record')
    with op.batch_alter_table('feed_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_client_source_authority'))
        batch_op.drop_index(batch_op.f('ix_feed_client_key_hash'))
    op.drop_table('feed_client')
    with op.batch_alter_table('feed_batch', schema=None) as batch_op:
        batch_op.drop_column('region_scope')
