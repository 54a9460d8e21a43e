# Writes OUTPUT, a C++ file defining mixsweep::db::kEmbeddedMigrations from the
# SQL files in INPUTS ('|'-separated, named NNNN_name.sql, applied in that order).
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "// Generated from db/migrations/*.sql by cmake/EmbedMigrations.cmake.\n")
string(APPEND body "#include \"db/migrations.h\"\n\nnamespace mixsweep::db {\n")
string(APPEND body "const std::vector<Migration>& EmbeddedMigrations() {\n")
string(APPEND body "  static const std::vector<Migration> kMigrations = {\n")
foreach(path ${INPUTS})
  get_filename_component(name ${path} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${name})
  # 0008 is not a valid C++ literal (octal): drop the leading zeros.
  math(EXPR version "${version}")
  file(READ ${path} sql)
  string(APPEND body "    {${version}, \"${name}\", R\"mixsweep_sql(${sql})mixsweep_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return kMigrations;\n}\n}  // namespace mixsweep::db\n")
file(WRITE ${OUTPUT} "${body}")
