// What the CLI needs to know about where its output goes: whether stdout is
// a terminal, whether colours are wanted there, and how wide it is. The one
// place that looks at the environment for this; the renderers take the
// answers as parameters.
#pragma once

namespace mixsweep::cli {

// stdout is a terminal.
bool StdoutIsTerminal();

// ANSI colours: only when stdout is a terminal, NO_COLOR is unset or empty
// (https://no-color.org) and TERM is not "dumb".
bool ColorWanted();

// The terminal's width in columns: stdout's window size when it is a
// terminal, else $COLUMNS when it is a positive number, else 0 (unknown).
int TerminalColumns();

}  // namespace mixsweep::cli
