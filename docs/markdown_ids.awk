# Doxygen's input filter for README.md: gives every heading below the title
# the id GitHub gives it ({#lower-case-words-joined-by-hyphens}, -1, -2 ... for
# repeats), so that the README's [text](#heading) links resolve in the API
# reference as they do on GitHub. Headings in fenced code blocks are left alone.
/^(```|~~~)/ { fence = !fence }
!fence && /^##+ / {
  id = tolower($0)
  sub(/^#+ +/, "", id)
  gsub(/[^a-z0-9 _-]/, "", id)
  gsub(/ /, "-", id)
  if (id in seen) { n = ++seen[id]; id = id "-" n } else seen[id] = 0
  $0 = $0 " {#" id "}"
}
{ print }
