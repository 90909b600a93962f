"""enrolled faces

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 13:45:12.470628

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('enrolled_face',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.Enum('enrolment', 'certification', name='facesource', native_enum=False, length=32), nullable=False),
    sa.Column('photo_path', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('photo_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('photo_format', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('photo_width', sa.Integer(), nullable=False),
    sa.Column('photo_height', sa.Integer(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('added_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('added_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_enrolled_face_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolled_face'))
    )
    with op.batch_alter_table('enrolled_face', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolled_face_active'), ['active'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolled_face_pensioner_id'), ['pensioner_id'], unique=False)

    op.create_table('face_gallery',
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('model_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model_version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('faces', sa.Integer(), nullable=False),
    sa.Column('cohort_mean', sa.Float(), nullable=True),
    sa.Column('cohort_std', sa.Float(), nullable=True),
    sa.Column('cohort_size', sa.Integer(), nullable=False),
    sa.Column('tail_fraction', sa.Float(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_face_gallery_pensioner_id_pensioner')),
    sa.PrimaryKeyConstraint('pensioner_id', name=op.f('pk_face_gallery'))
    )


def downgrade() -> None:
    op.drop_table('face_gallery')
    with op.batch_alter_table('enrolled_face', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolled_face_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_enrolled_face_active'))

    op.drop_table('enrolled_face')
